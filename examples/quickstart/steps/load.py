"""Load the digits data set (8x8 images of handwritten digits) shipped with scikit-learn."""
import argparse

from sklearn.datasets import load_digits

from common import log_metadata, save_arrays

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True)
args = parser.parse_args()

digits = load_digits()
save_arrays(args.out, X=digits.data, y=digits.target)
log_metadata(samples=int(digits.data.shape[0]), features=int(digits.data.shape[1]))
print(f"loaded {digits.data.shape[0]} samples with {digits.data.shape[1]} features")
