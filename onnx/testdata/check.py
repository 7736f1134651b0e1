"""check runs ONNX's own checker on models, for the tests of package onnx (parity_test.go).

    python3 check.py MODEL.onnx...

Each model must pass onnx.checker.check_model with full_check, which also infers every shape.
"""
import sys

import onnx

for path in sys.argv[1:]:
    try:
        onnx.checker.check_model(path, full_check=True)
    except Exception as err:  # the checker raises several types
        print(f"{path}: {err}")
        sys.exit(1)
