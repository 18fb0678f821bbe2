"""Evaluation metrics on embeddings (NumPy only): STS, KLUE-STS, pair classification, alignment/uniformity."""

from tf_simcse.evaluation.alignment_uniformity import alignment
from tf_simcse.evaluation.alignment_uniformity import sts_alignment_uniformity
from tf_simcse.evaluation.alignment_uniformity import uniformity
from tf_simcse.evaluation.classification import CLASSIFICATION_METRIC_KEYS
from tf_simcse.evaluation.classification import binary_classification_metrics
from tf_simcse.evaluation.classification import pair_classification_metrics
from tf_simcse.evaluation.classification import predict_at
from tf_simcse.evaluation.klue_sts import KLUE_BINARY_THRESHOLD
from tf_simcse.evaluation.klue_sts import cosine_to_klue_scale
from tf_simcse.evaluation.klue_sts import klue_sts_metrics
from tf_simcse.evaluation.klue_sts import tune_klue_threshold
from tf_simcse.evaluation.metric_table import format_metric_table
from tf_simcse.evaluation.sts import STS_METRIC_KEYS
from tf_simcse.evaluation.sts import pearson
from tf_simcse.evaluation.sts import rankdata
from tf_simcse.evaluation.sts import spearman
from tf_simcse.evaluation.sts import sts_metrics
from tf_simcse.evaluation.sts import sts_scores
