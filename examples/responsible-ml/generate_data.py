"""A credit-style data set with a known truth, generated (nothing is downloaded).

- ``income``, ``debt_ratio``, ``late_payments`` and ``credit_history_years`` decide ``default`` (1: the
  applicant defaulted); ``noise_1``…``noise_3`` are random and decide nothing;
- ``sex`` and ``age_group`` are sensitive features, not model inputs. The disparity is injected against
  ``sex == "F"``: their incomes are drawn lower (a proxy the model picks up) and their historical labels
  carry an extra push towards ``default``, so a model trained on these labels flags them more often.

    python generate_data.py --rows 1500 --out data/     # writes credit-train.csv and credit-test.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

INFORMATIVE = ("income", "debt_ratio", "late_payments", "credit_history_years")
NOISE = ("noise_1", "noise_2", "noise_3")
FEATURES = INFORMATIVE + NOISE
SENSITIVE = ("sex", "age_group")
TARGET = "default"
DISADVANTAGED = ("sex", "F")  # the group the disparity is injected against
LABEL_BIAS = 1.5  # added to the disadvantaged group's log-odds of default


def generate(rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` applicants: the features, the sensitive columns and the ``default`` label."""
    rng = np.random.default_rng(seed)
    female = rng.random(rows) < 0.5
    age_group = rng.choice(["18-30", "31-50", "51+"], size=rows, p=[0.3, 0.45, 0.25])
    income = rng.normal(55.0, 12.0, rows) - 12.0 * female  # thousands a year: lower for the group
    debt_ratio = rng.beta(2.0, 5.0, rows)
    late_payments = rng.poisson(1.0, rows)
    history = rng.gamma(3.0, 3.0, rows) + np.where(age_group == "51+", 8.0, 0.0)
    log_odds = (
        -0.09 * (income - 50.0) + 5.0 * (debt_ratio - 0.3) + 0.9 * (late_payments - 1.0) - 0.12 * (history - 10.0)
        + LABEL_BIAS * female - 0.8
    )  # fmt: skip
    default = (rng.random(rows) < 1.0 / (1.0 + np.exp(-log_odds))).astype(int)
    table = pd.DataFrame(
        {
            "income": income.round(2),
            "debt_ratio": debt_ratio.round(4),
            "late_payments": late_payments.astype(float),
            "credit_history_years": history.round(2),
            **{name: rng.normal(0.0, 1.0, rows).round(4) for name in NOISE},
            "sex": np.where(female, "F", "M"),
            "age_group": age_group,
            TARGET: default,
        }
    )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1500, help="rows in all; a third go to the test set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("data"))
    args = parser.parse_args()
    table = generate(args.rows, args.seed)
    cut = args.rows * 2 // 3
    args.out.mkdir(parents=True, exist_ok=True)
    table.iloc[:cut].to_csv(args.out / "credit-train.csv", index=False)
    table.iloc[cut:].to_csv(args.out / "credit-test.csv", index=False)
    print(f"wrote {cut} training rows and {args.rows - cut} test rows to {args.out}/")


if __name__ == "__main__":
    main()
