"""The sandbox Voximplant account: checks service-account tokens as Voximplant does and
serves ``GetSipRegistrations`` over the registrations the sandbox portal creates."""

from worker.sandbox.voximplant import admin
from worker.sandbox.voximplant.account import DEFAULT_ACCOUNT_ID, SandboxAccount, dotenv_lines
from worker.sandbox.voximplant.faults import Fault, FaultInjector
from worker.sandbox.voximplant.keys import CREDENTIALS_FILE, SandboxKey, ensure_service_account
from worker.sandbox.voximplant.verifier import ApiError, TokenVerifier

__all__ = [
    "CREDENTIALS_FILE",
    "DEFAULT_ACCOUNT_ID",
    "ApiError",
    "Fault",
    "FaultInjector",
    "SandboxAccount",
    "SandboxKey",
    "TokenVerifier",
    "admin",
    "dotenv_lines",
    "ensure_service_account",
]
