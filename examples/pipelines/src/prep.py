"""Split scikit-learn's bundled iris data (nothing downloaded) into train.csv and test.csv."""

import argparse
from pathlib import Path

from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--test-size", type=float, default=0.3)
parser.add_argument("--out", type=Path, required=True)
args = parser.parse_args()

frame = load_iris(as_frame=True).frame
train, test = train_test_split(frame, test_size=args.test_size, random_state=0, stratify=frame["target"])
args.out.mkdir(parents=True, exist_ok=True)
train.to_csv(args.out / "train.csv", index=False)
test.to_csv(args.out / "test.csv", index=False)
print(f"train: {len(train)} rows, test: {len(test)} rows")
