"""Evaluate the model on the test set; write the metrics as an artifact and as step metadata."""
import argparse
import json
import pickle

from sklearn.metrics import accuracy_score, f1_score

from common import load_arrays, log_metadata

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--test", required=True)
parser.add_argument("--metrics", required=True)
args = parser.parse_args()

with open(args.model, "rb") as f:
    model = pickle.load(f)
data = load_arrays(args.test)
pred = model.predict(data["X"])
metrics = {
    "accuracy": float(accuracy_score(data["y"], pred)),
    "f1_macro": float(f1_score(data["y"], pred, average="macro")),
    "test_samples": int(len(pred)),
}
with open(args.metrics, "w") as f:
    json.dump(metrics, f, indent=2, sort_keys=True)
log_metadata(**metrics)
print(json.dumps(metrics))
