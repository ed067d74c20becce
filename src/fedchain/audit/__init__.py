"""Audit: replay and verify every round from chain + store."""

from fedchain.audit.auditor import (
    AuditReport,
    RoundVerdict,
    accounting_verdict,
    audit_all,
    audit_task,
)

__all__ = ["AuditReport", "RoundVerdict", "accounting_verdict", "audit_all", "audit_task"]
