"""Prints the head-trainer README's comparison tables from the results run.sh wrote.

Usage: /usr/bin/python3 table.py CIFAR_WORK_DIR COCO_WORK_DIR (either may be missing)
"""
import json
import os
import sys


def load(path):
    return json.load(open(path)) if os.path.exists(path) else None


cifar, coco = sys.argv[1], sys.argv[2]
java, sk = load(f"{cifar}/java-results.json"), load(f"{cifar}/sklearn-results.json")
if java and sk:
    print(f"CIFAR-10 full: {java['train'] + java['validation']} train, {java['test']} test images\n")
    print("| model | test accuracy | fit time |\n| --- | ---: | ---: |")
    lin = java["linear"]
    print(f"| vitfit linear, default (L-BFGS, {lin['selection']}) | {lin['accuracy']:.4f} | {lin['fit_seconds']:.1f} s |")
    print(f"| vitfit linear, `--solver sgd` (Tribuo LinearSGDTrainer, Adam, 20 epochs) | {java['sgd']['accuracy']:.4f} "
          f"| {java['sgd']['fit_seconds']:.1f} s |")
    print(f"| vitfit MLP (early stopping on 8% validation) | {java['mlp']['accuracy']:.4f} | {java['mlp']['fit_seconds']:.1f} s |")
    best = sk["best_C"]
    print(f"| scikit-learn LogisticRegressionCV (5 folds, same grid; chose C = {sk['cv']['C']:g}) | {sk['cv']['accuracy']:.4f} "
          f"| {sk['cv']['fit_seconds']:.1f} s |")
    for c, r in sk["grid"].items():
        mark = " (best C on the test set)" if float(c) == best else ""
        print(f"| scikit-learn LogisticRegression C = {float(c):g}{mark} | {r['accuracy']:.4f} | {r['fit_seconds']:.1f} s "
              f"({r['iterations']} lbfgs iterations) |")
    print()
java, sk = load(f"{coco}/java-results.json"), load(f"{coco}/sklearn-results.json")
if java and sk:
    print(f"COCO mini: {java['train']} train, {java['test']} val images, 80 labels\n")
    print("| model | micro ROC-AUC | mAP | fit time |\n| --- | ---: | ---: | ---: |")
    for key, name in (("linear", f"vitfit linear, default (L-BFGS, {java['linear']['selection']})"),
                      ("sgd", "vitfit linear, `--solver sgd` (Tribuo LinearSGDTrainer, Adam)")):
        r = java[key]
        print(f"| {name} | {r['micro_roc_auc']:.4f} | {r['map']:.4f} | {r['fit_seconds']:.1f} s |")
    best = sk["best_C"]
    for c, r in sk["grid"].items():
        mark = " (best C on the val set)" if float(c) == best else ""
        print(f"| scikit-learn one-vs-rest LogisticRegression C = {float(c):g}{mark} | {r['micro_roc_auc']:.4f} "
              f"| {r['map']:.4f} | {r['fit_seconds']:.2f} s |")
