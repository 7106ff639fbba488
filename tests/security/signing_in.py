"""Helpers for tests that sign in through the real forms, second step included."""

from __future__ import annotations

import time

from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from missingkids.accounts.models import User
from tests.factories import DEFAULT_PASSWORD


def password_step(client: Client, email: str, password: str = DEFAULT_PASSWORD, **extra: str):
    return client.post(reverse("login"), {"username": email, "password": password, **extra})


def authenticator(user: User) -> TOTPDevice:
    """A confirmed authenticator for ``user`` (as if they had enrolled one)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)


def code_now(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """What the app shows now (or ``steps_ahead`` time steps later)."""
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, steps_ahead):06d}"


def time_step_now(device: TOTPDevice) -> int:
    return int(time.time() - device.t0) // device.step
