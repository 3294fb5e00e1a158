"""scikit-learn side of the head benchmarks: LogisticRegression on the very embeddings and split that CifarHeads.java
or CocoHeads.java exported, standardised with the training rows' statistics as the vitfit heads are by default.

For every C of the grid vitfit searches (1e-4 .. 100) it fits on the train rows and scores the test rows, so the
best C is chosen with hindsight on the test set (an oracle: it flatters scikit-learn). Multi-class also runs
LogisticRegressionCV (5 folds, the same grid), the fair "tuned by cross-validation" counterpart of vitfit's default,
and the plain default LogisticRegression() (C = 1). Multi-label fits one-vs-rest (one binary LogisticRegression per
label, as OneVsRestClassifier does) and scores micro ROC-AUC and mAP (labels with a test positive).

Usage: /usr/bin/python3 sklearn_heads.py WORK_DIR multiclass|multilabel
"""
import json
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer, StandardScaler

work, task = sys.argv[1], sys.argv[2]
GRID = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0]
n, d = (int(v) for v in open(f"{work}/shape.txt").read().split())
x = np.fromfile(f"{work}/embeddings.f32", dtype="<f4").reshape(n, d).astype(np.float64)
labels = open(f"{work}/labels.txt").read().split("\n")[:n]
split = np.array(open(f"{work}/split.txt").read().split("\n")[:n])
train = split != "test"
test = split == "test"
scaler = StandardScaler().fit(x[train])
xtr, xte = scaler.transform(x[train]), scaler.transform(x[test])
result = {"task": task, "train": int(train.sum()), "test": int(test.sum()), "grid": {},
          "sklearn": sklearn.__version__, "numpy": np.__version__, "python": sys.version.split()[0]}

if task == "multiclass":
    y = np.array(labels)
    for c in GRID:
        start = time.perf_counter()
        m = LogisticRegression(C=c, max_iter=1000).fit(xtr, y[train])
        seconds = time.perf_counter() - start
        result["grid"][str(c)] = {"accuracy": float((m.predict(xte) == y[test]).mean()), "fit_seconds": seconds,
                                  "iterations": int(np.max(m.n_iter_))}
    start = time.perf_counter()
    cv = LogisticRegressionCV(Cs=GRID, cv=5, max_iter=1000).fit(xtr, y[train])
    result["cv"] = {"accuracy": float((cv.predict(xte) == y[test]).mean()), "C": float(cv.C_[0]),
                    "fit_seconds": time.perf_counter() - start}
    best = max(result["grid"], key=lambda c: result["grid"][c]["accuracy"])
else:
    binarizer = MultiLabelBinarizer()
    Y = binarizer.fit_transform([l.split("|") if l else [] for l in labels])
    Ytr, Yte = Y[train], Y[test]
    present = [j for j in range(Y.shape[1]) if Yte[:, j].any()]
    for c in GRID:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # labels absent from train: OneVsRest predicts them constant
            m = OneVsRestClassifier(LogisticRegression(C=c, max_iter=1000)).fit(xtr, Ytr)
        seconds = time.perf_counter() - start
        s = m.predict_proba(xte)
        result["grid"][str(c)] = {
            "micro_roc_auc": roc_auc_score(Yte, s, average="micro"),
            "map": average_precision_score(Yte[:, present], s[:, present], average="macro"),
            "micro_f1_at_0.5": f1_score(Yte, (s > 0.5).astype(int), average="micro", zero_division=0),
            "fit_seconds": seconds}
    best = max(result["grid"], key=lambda c: result["grid"][c]["micro_roc_auc"])
result["best_C"] = float(best)
json.dump(result, open(f"{work}/sklearn-results.json", "w"), indent=1)
print(json.dumps(result))
