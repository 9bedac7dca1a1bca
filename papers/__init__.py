"""The reproductions, one folder per paper."""
import common  # noqa: F401  (first: it holds numpy and torch to AVX2 kernels, common/platform/kernels.py)
