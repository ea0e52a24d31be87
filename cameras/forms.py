"""The console's forms for cameras: an FTP account with a write-only password (saved by
cameras/ftp.py: ftp_account_save)."""

from __future__ import annotations

from typing import Any

from django import forms

from cameras.models import FtpAccount


class FtpAccountForm(forms.ModelForm):
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        strip=False,
        help_text="Write-only. Leave empty to keep the current password.",
    )

    class Meta:
        model = FtpAccount
        fields = ("camera", "username", "enabled")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.instance.pk and not data.get("password"):
            self.add_error("password", "A new account needs a password.")
        return data
