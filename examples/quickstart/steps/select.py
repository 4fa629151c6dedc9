"""Pick the model with the best test accuracy among the sweep's: every evaluation's metrics and
every model arrive as lists, in the same (instance) order."""
import argparse
import json
import shutil

from common import log_metadata

parser = argparse.ArgumentParser()
parser.add_argument("--metrics", nargs="+", required=True)
parser.add_argument("--models", nargs="+", required=True)
parser.add_argument("--best-model", required=True)
parser.add_argument("--summary", required=True)
args = parser.parse_args()
if len(args.metrics) != len(args.models):
    raise SystemExit(f"{len(args.metrics)} metrics for {len(args.models)} models")

scores = []
for path in args.metrics:
    with open(path) as f:
        scores.append(json.load(f)["accuracy"])
best = max(range(len(scores)), key=lambda i: scores[i])
shutil.copyfile(args.models[best], args.best_model)
summary = {"accuracy": scores[best], "index": best, "accuracies": scores}
with open(args.summary, "w") as f:
    json.dump(summary, f, indent=2)
log_metadata(accuracy=scores[best], index=best)
print(f"best: model {best} of {len(scores)}, test accuracy {scores[best]:.4f}")
