"""Regenerate data/breast_cancer.csv from the copy that scikit-learn ships (no download)."""

from pathlib import Path

from sklearn.datasets import load_breast_cancer

if __name__ == "__main__":
    frame = load_breast_cancer(as_frame=True).frame
    out = Path(__file__).resolve().parent.parent / "data" / "breast_cancer.csv"
    frame.to_csv(out, index=False)
    print(f"wrote {out} ({len(frame)} rows, {frame.shape[1] - 1} features)")
