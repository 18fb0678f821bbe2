"""The masked-language-model auxiliary loss of SimCSE's official code (`do_mlm`): BERT masking, BERT's MLM head,
and the cross-entropy over the selected tokens.

`tf_simcse.model.SimCSE` owns the head and the seed (they are part of its checkpoint); these functions are the
computation. The loss is a sum over the replica's selected tokens, divided by the global count in the train step,
so that replicas add up to the single-device mean over the global batch.
"""

import keras
import keras_hub
import tensorflow as tf

from tf_simcse import features, replicas


def make_mlm_head(encoder):
    """BERT's MLM head: dense + exact GELU + LayerNorm, then the tied token embedding + a bias.

    A fresh one (Hugging Face `BertLMPredictionHead` init): keras-hub backbones do not carry the checkpoint's
    pretrained head.
    """
    head = keras_hub.layers.MaskedLMHead(
        token_embedding=encoder.backbone.token_embedding,
        intermediate_activation=lambda x: keras.activations.gelu(x, approximate=False),
        layer_norm_epsilon=1e-12,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
        dtype=encoder.backbone.dtype_policy,
        name="mlm_head",
    )
    head.build((None, None, encoder.hidden_dim))
    return head


def mask_tokens(inputs, *, seed_generator, probability, mask_token_id, special_token_ids, vocabulary_size):
    """BERT masking of packed `inputs`: returns `(masked_word_ids, selected)` ([b, len] int32 and bool).

    Each real (unpadded) token that is not in `special_token_ids` is selected with `probability`; a selected token
    becomes `mask_token_id` with probability 0.8, a uniformly random id with probability 0.1, and stays itself
    otherwise (the Hugging Face collator's rule).
    """
    ids = tf.cast(inputs[features.WORD_IDS], tf.int32)
    eligible = tf.cast(inputs[features.MASK], tf.bool)
    for special in special_token_ids:
        eligible = tf.logical_and(eligible, tf.not_equal(ids, special))
    # The seed generator's state is mirrored, so every replica would draw the same numbers: salt the seed with
    # the replica id so that replicas mask independently.
    seed = keras.random.randint((2,), 0, 2**30, seed=seed_generator, dtype="int32")
    seed = seed + tf.stack([0, replicas.global_replica_id()])
    draws = tf.random.stateless_uniform(tf.concat([[3], tf.shape(ids)], 0), seed=seed)
    selected = tf.logical_and(eligible, draws[0] < probability)
    to_mask = tf.logical_and(selected, draws[1] < 0.8)
    to_random = tf.logical_and(tf.logical_and(selected, tf.logical_not(to_mask)), draws[2] < 0.5)
    random_ids = tf.cast(tf.floor(draws[2] * 2.0 * vocabulary_size), tf.int32) % vocabulary_size
    masked = tf.where(to_mask, tf.fill(tf.shape(ids), mask_token_id), ids)
    masked = tf.where(to_random, random_ids, masked)
    return masked, selected


def mlm_terms(encoder, head, inputs, masked_ids, selected, training=False):
    """Masked-LM cross-entropy summed over the `selected` tokens of packed `inputs`, and their count.

    `masked_ids` replaces `inputs["input_word_ids"]` for the backbone; the labels are the original ids.
    """
    inputs = {k: tf.convert_to_tensor(v) for k, v in inputs.items()}
    backbone_inputs = encoder.backbone_inputs({**inputs, features.WORD_IDS: masked_ids})
    sequence = encoder.backbone(backbone_inputs, training=training)["sequence_output"]
    positions = tf.broadcast_to(tf.range(tf.shape(masked_ids)[1])[None, :], tf.shape(masked_ids))
    logits = tf.cast(head(sequence, mask_positions=positions), tf.float32)
    labels = tf.cast(inputs[features.WORD_IDS], tf.int32)
    per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    weights = tf.cast(selected, tf.float32)
    return tf.reduce_sum(per_token * weights), tf.reduce_sum(weights)
