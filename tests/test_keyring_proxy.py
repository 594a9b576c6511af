"""The keyring proxy end to end: a real ``botmaker keyring serve`` process, a real fake
provider upstream (aiohttp, in a thread), real HTTP in between, no mocks.

One keyring process and one fake upstream serve most tests (module scope); each test
uses its own bot ids, and tests that depend on which keys exist use a provider no
other test touches. Tests that need their own environment (body limit, a locked
keyring, rotation) start their own process.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from botmaker.errors import BotMakerError, InvalidInput
from botmaker.keyring.model import Budget, KeyInfo, KeyringLocked
from botmaker.netutil import NOT_USED if False else None  # type: ignore[attr-defined]  # noqa
