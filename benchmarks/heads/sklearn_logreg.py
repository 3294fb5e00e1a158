"""scikit-learn side of the CIFAR-10 head benchmark: LogisticRegression on the very embeddings and split that
CifarHeads.java exported (standardised with the training rows' statistics, as the vitfit heads are by default).

Usage: /usr/bin/python3 sklearn_logreg.py WORK_DIR
"""
import json
import sys
import time

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

work = sys.argv[1]
n, d = (int(v) for v in open(f"{work}/shape.txt").read().split())
x = np.fromfile(f"{work}/embeddings.f32", dtype="<f4").reshape(n, d)
y = np.array(open(f"{work}/labels.txt").read().split("\n")[:n])
split = np.array(open(f"{work}/split.txt").read().split("\n")[:n])
train = split != "test"
test = split == "test"

start = time.perf_counter()
scaler = StandardScaler().fit(x[train])
clf = LogisticRegression(max_iter=1000).fit(scaler.transform(x[train]), y[train])
fit_seconds = time.perf_counter() - start
accuracy = float((clf.predict(scaler.transform(x[test])) == y[test]).mean())
result = {"accuracy": accuracy, "fit_seconds": fit_seconds, "iterations": int(np.max(clf.n_iter_)),
          "sklearn": sklearn.__version__, "numpy": np.__version__, "python": sys.version.split()[0]}
json.dump(result, open(f"{work}/sklearn-results.json", "w"))
print(json.dumps(result))
