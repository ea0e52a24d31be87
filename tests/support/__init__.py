"""What the tests run against, apart from the tests themselves: real processes
(processes.py), real servers and stand-ins for remote services (servers.py, fake_llm.py,
fake_detector.py), the task queues (queues.py), the stand-in next stage of ingest
(stage_stub.py) and the cast of users (users.py). The fixtures that use them are in
tests/conftest.py."""
