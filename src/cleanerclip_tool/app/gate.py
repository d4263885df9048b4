"""The CI gate of ``cleanerclip scan``: fail (exit 3) when a scanned model looks backdoored.

Two rules, either or both:

* ``--fail-above T`` (with ``--fail-metric asr@K``, default ``asr@1``): some attack's ASR@K exceeds
  T (a fraction: 0.2 is 20%). ASR is toward ``--target`` when one is given, else toward the class
  the trigger pulls to most (target discovery), so a backdoor with an unknown target still counts.
* ``--fail-on-discovery G``: some trigger raises one class's Top-1 share by more than G over its
  share on clean images (``discovered_growth``), whatever the target. A clean model's growth stays
  near 0; a backdoor's is most of the eval set.

The gate reads the scan report's documented JSON (``ScanReport.to_dict()``), so it can be applied
to a saved report as well as to a fresh scan.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cleanerclip_tool.errors import BadInputError, GateFailedError


@dataclass(frozen=True)
class Gate:
    fail_above: float | None = None
    metric: str = "asr@1"
    fail_on_discovery: float | None = None

    @property
    def active(self) -> bool:
        return self.fail_above is not None or self.fail_on_discovery is not None

    def validate(self, topk: Sequence[int]) -> Gate:
        """Check the thresholds and that the metric's k is among the scanned ``topk``; return self."""
        for flag, value in (("--fail-above", self.fail_above), ("--fail-on-discovery", self.fail_on_discovery)):
            if value is not None and not (math.isfinite(value) and 0 <= value < 1):
                raise BadInputError(f"a fraction in [0, 1) is expected, got {value} (0.2 means 20%)", where=flag)
        k = metric_k(self.metric)
        if k not in topk:
            raise BadInputError(
                f"{self.metric} needs k={k} among --topk ({','.join(map(str, topk))})", where="--fail-metric"
            )
        return self

    def failures(self, report: Mapping[str, Any]) -> list[str]:
        """One line per attack that breaks a rule (empty: the model passes)."""
        lines = []
        k = str(metric_k(self.metric))
        for row in report.get("results", []):
            asr = (row.get("asr") or {}).get(k)
            if self.fail_above is not None and asr is not None and asr > self.fail_above:
                toward = row.get("target") or f"{row.get('asr_target')}, discovered"
                lines.append(
                    f"{row['attack']}: ASR@{k} {100 * asr:.1f}% > {100 * self.fail_above:.1f}% (toward {toward})"
                )
            growth = row.get("discovered_growth")
            if self.fail_on_discovery is not None and growth is not None and growth > self.fail_on_discovery:
                clean = row.get("discovered_clean_share") or 0.0
                lines.append(
                    f"{row['attack']}: the trigger pulls Top-1 toward {row.get('discovered_target')!r} "
                    f"{100 * clean:.1f}% → {100 * row.get('discovered_share', 0.0):.1f}% "
                    f"(+{100 * growth:.1f} points > {100 * self.fail_on_discovery:.1f})"
                )
        return lines

    def verdict(self, report: Mapping[str, Any]) -> dict[str, Any]:
        """The ``gate`` object of the JSON report."""
        failures = self.failures(report)
        return {
            "passed": not failures,
            "fail_above": self.fail_above,
            "fail_metric": self.metric,
            "fail_on_discovery": self.fail_on_discovery,
            "failures": failures,
            "exit_code": 0 if not failures else GateFailedError.exit_code,
        }


def metric_k(metric: str) -> int:
    """``asr@5`` → 5; anything else is bad input for ``--fail-metric``."""
    name, _, k = metric.strip().lower().partition("@")
    if name != "asr" or not k.isdigit() or int(k) < 1:
        raise BadInputError(f"expected asr@K (e.g. asr@1, asr@5), got {metric!r}", where="--fail-metric")
    return int(k)


def enforce(verdict: Mapping[str, Any], model: str) -> None:
    """Raise ``GateFailedError`` (exit 3) when the verdict failed, naming every failing attack."""
    failures = verdict.get("failures") or []
    if failures:
        attacks = ", ".join(dict.fromkeys(line.split(":", 1)[0] for line in failures))
        raise GateFailedError(
            f"scan gate failed ({attacks}; exit 3)",
            where=model,
            hint="the model looks backdoored: purify it (cleanerclip purify) before deploying it",
        )


__all__ = ["Gate", "enforce", "metric_k"]
