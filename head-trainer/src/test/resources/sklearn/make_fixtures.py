"""Writes the scikit-learn reference values the head-trainer tests compare against (the tests never call Python).

Run from the repository root: /usr/bin/python3 head-trainer/src/test/resources/sklearn/make_fixtures.py
(scikit-learn 1.2.1, numpy 1.24.2 from Debian). Outputs, next to this script:
  logreg.json   L2 logistic regression (multinomial and one-vs-rest per label) solved to tol 1e-10
  metrics.json  multi-label metrics on fixed scores: ROC-AUC (micro, macro, per label), average precision, F1
"""
import json
import os

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score, precision_score, recall_score

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(2024)

# --- logistic regression: 90 rows, 5 features, 3 overlapping classes; and a 3-label multi-label target
n, d, k = 90, 5, 3
centres = rng.normal(0, 1.0, size=(k, d))
y = np.arange(n) % k
x = centres[y] + rng.normal(0, 1.2, size=(n, d))
weights = rng.uniform(0.5, 2.0, size=n)
out = {"sklearn": sklearn.__version__, "x": x.round(6).tolist(), "y": y.tolist(), "sampleWeight": weights.round(6).tolist()}
x = np.array(out["x"])
weights = np.array(out["sampleWeight"])
for c in (0.05, 1.0):
    m = LogisticRegression(C=c, tol=1e-10, max_iter=100000).fit(x, y)
    out[f"multinomial_C{c}"] = {"coef": m.coef_.tolist(), "intercept": m.intercept_.tolist()}
m = LogisticRegression(C=0.3, tol=1e-10, max_iter=100000).fit(x, y, sample_weight=weights)
out["multinomial_weighted_C0.3"] = {"coef": m.coef_.tolist(), "intercept": m.intercept_.tolist()}
proj = x @ rng.normal(0, 1, size=(d, 3))
multi = (proj > np.array([0.0, 0.8, -0.5])).astype(int)
out["multilabel_y"] = multi.tolist()
coefs, intercepts = [], []
for j in range(3):
    m = LogisticRegression(C=0.3, tol=1e-10, max_iter=100000).fit(x, multi[:, j])
    coefs.append(m.coef_[0].tolist())
    intercepts.append(float(m.intercept_[0]))
out["ovr_C0.3"] = {"coef": coefs, "intercept": intercepts}
json.dump(out, open(os.path.join(here, "logreg.json"), "w"), separators=(",", ":"))

# --- multi-label metrics: 60 rows x 6 labels, scores rounded to 0.01 (ties), label 5 never present
n, k = 60, 6
truth = (rng.uniform(size=(n, k)) < np.array([0.5, 0.3, 0.2, 0.6, 0.1, 0.0])).astype(int)
scores = np.clip(truth * rng.uniform(0.0, 0.45, size=(n, k)) + rng.uniform(0, 0.6, size=(n, k)), 0, 1).round(2)
thresholds = np.array([0.5, 0.4, 0.45, 0.55, 0.3, 0.5])
pred = (scores > thresholds).astype(int)
present = [j for j in range(k) if truth[:, j].any()]
res = {
    "sklearn": sklearn.__version__,
    "truth": truth.tolist(), "scores": scores.tolist(), "thresholds": thresholds.tolist(),
    "microRocAuc": roc_auc_score(truth, scores, average="micro"),
    # scikit-learn refuses macro ROC-AUC with an all-negative label: computed on the labels that have positives
    "macroRocAuc": roc_auc_score(truth[:, present], scores[:, present], average="macro"),
    "perLabelRocAuc": [roc_auc_score(truth[:, j], scores[:, j]) if j in present else None for j in range(k)],
    "perLabelAveragePrecision": [average_precision_score(truth[:, j], scores[:, j]) if j in present else None
                                 for j in range(k)],
    # mAP over labels with positives (scikit-learn's average="macro" would count label 5 as 0)
    "meanAveragePrecision": average_precision_score(truth[:, present], scores[:, present], average="macro"),
    "microF1": f1_score(truth, pred, average="micro", zero_division=0),
    "macroF1": f1_score(truth, pred, average="macro", zero_division=0),
    "microPrecision": precision_score(truth, pred, average="micro", zero_division=0),
    "microRecall": recall_score(truth, pred, average="micro", zero_division=0),
    "perLabelF1": f1_score(truth, pred, average=None, zero_division=0).tolist(),
}
json.dump(res, open(os.path.join(here, "metrics.json"), "w"), separators=(",", ":"))
print("wrote logreg.json and metrics.json with scikit-learn", sklearn.__version__)
