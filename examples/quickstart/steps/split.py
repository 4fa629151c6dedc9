"""Split the data set into a stratified train and test set."""
import argparse

from sklearn.model_selection import train_test_split

from common import load_arrays, log_metadata, save_arrays

parser = argparse.ArgumentParser()
parser.add_argument("--in", dest="inp", required=True)
parser.add_argument("--test-size", type=float, required=True)
parser.add_argument("--seed", type=int, required=True)
parser.add_argument("--train", required=True)
parser.add_argument("--test", required=True)
args = parser.parse_args()

data = load_arrays(args.inp)
X_train, X_test, y_train, y_test = train_test_split(
    data["X"], data["y"], test_size=args.test_size, random_state=args.seed, stratify=data["y"])
save_arrays(args.train, X=X_train, y=y_train)
save_arrays(args.test, X=X_test, y=y_test)
log_metadata(train_samples=len(y_train), test_samples=len(y_test))
print(f"train: {len(y_train)} samples, test: {len(y_test)} samples")
