"""Print cdk-nag's verdict from cdk.out/validation-report.json: violations, then each acknowledged rule."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(path: str = "cdk.out/validation-report.json") -> int:
    report = json.loads(Path(path).read_text())
    failed = 0
    for plugin in report.get("pluginReports", []):
        violations = plugin.get("violations", [])
        failed += len(violations)
        print(f"cdk-nag {plugin['pluginName']}: {plugin['conclusion']}, {len(violations)} violation(s)")
        for rule in violations:
            print(f"  VIOLATION {rule['ruleName']}: {rule['description']}")
        for rule in plugin.get("suppressedViolations", []):
            where = len(rule.get("violatingConstructs", []))
            print(f"  acknowledged {rule['ruleName']} ({where} construct(s)): {rule.get('reason', '')[:100]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
