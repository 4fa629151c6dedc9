"""Train a logistic-regression classifier (features scaled first) and save it with pickle."""
import argparse
import pickle

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from common import load_arrays, log_metadata

parser = argparse.ArgumentParser()
parser.add_argument("--train", required=True)
parser.add_argument("--C", type=float, required=True)
parser.add_argument("--max-iter", type=int, required=True)
parser.add_argument("--penalty", choices=["l1", "l2"], default="l2")
parser.add_argument("--model", required=True)
args = parser.parse_args()

data = load_arrays(args.train)
# An L1 penalty needs a solver that supports it; L2 keeps scikit-learn's default solver.
options = {"penalty": "l1", "solver": "liblinear"} if args.penalty == "l1" else {}
model = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, max_iter=args.max_iter, **options))
model.fit(data["X"], data["y"])
train_accuracy = float(model.score(data["X"], data["y"]))
with open(args.model, "wb") as f:
    pickle.dump(model, f)
log_metadata(train_accuracy=train_accuracy, C=args.C, penalty=args.penalty)
print(f"train accuracy {train_accuracy:.4f}")
