from homesec.core.consumers import LiveStreamConsumer


class EventsConsumer(LiveStreamConsumer):
    """/ws/events: event opened / assessed / closed, alert fired."""

    stream = "events"
