"""Which digit is in an 8x8 image (scikit-learn's bundled digits), with TensorFlow itself: a
``tf.Module`` with two dense layers, trained by a ``tf.GradientTape`` loop. Params and
per-epoch metrics go to the job's MLflow run, scalars to TensorBoard (``tf.summary``), and
the module is saved as an MLflow model that takes 64 raw pixel values (0-16) per row and
answers 10 class probabilities."""

import argparse
import time

import mlflow
import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from kiln.integrations import tensorflow as kiln_tf

parser = argparse.ArgumentParser()
parser.add_argument("--hidden", type=int, default=64)
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--learning-rate", type=float, default=0.01)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--model", required=True)
args = parser.parse_args()

kiln_tf.seed(args.seed)
PIXELS, CLASSES = 64, 10


class DigitClassifier(tf.Module):
    """64 pixel values (0-16) -> ReLU hidden layer -> 10 class probabilities."""

    def __init__(self, hidden: int, seed: int) -> None:
        super().__init__()
        rng = tf.random.Generator.from_seed(seed)
        self.w1 = tf.Variable(rng.normal([PIXELS, hidden]) * tf.sqrt(2.0 / PIXELS), name="w1")
        self.b1 = tf.Variable(tf.zeros([hidden]), name="b1")
        self.w2 = tf.Variable(rng.normal([hidden, CLASSES]) * tf.sqrt(1.0 / hidden), name="w2")
        self.b2 = tf.Variable(tf.zeros([CLASSES]), name="b2")

    def logits(self, pixels: tf.Tensor) -> tf.Tensor:
        hidden = tf.nn.relu((pixels / 16.0) @ self.w1 + self.b1)
        return hidden @ self.w2 + self.b2

    @tf.function(input_signature=[tf.TensorSpec([None, PIXELS], tf.float32)])
    def __call__(self, pixels: tf.Tensor) -> tf.Tensor:  # what the saved model (and an endpoint) runs
        return tf.nn.softmax(self.logits(pixels))


X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X.astype(np.float32), y.astype(np.int32), test_size=0.25, random_state=args.seed, stratify=y
)
model = DigitClassifier(args.hidden, args.seed)
optimizer = tf.keras.optimizers.Adam(args.learning_rate)
batches = tf.data.Dataset.from_tensor_slices((X_train, y_train)).shuffle(len(X_train), seed=args.seed)


@tf.function
def train_step(pixels: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    with tf.GradientTape() as tape:
        logits = model.logits(pixels)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    variables = model.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
    return loss


def accuracy(pixels: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(model(pixels).numpy(), axis=1) == labels))


mlflow.log_params(vars(args) | {"model": "tf.Module", "train_rows": len(X_train), "test_rows": len(X_test)})
print(f"training on {len(X_train)} images, testing on {len(X_test)}")
train_writer, test_writer = kiln_tf.summary_writer("train"), kiln_tf.summary_writer("test")
started = time.monotonic()
for epoch in range(args.epochs):
    losses = [float(train_step(pixels, labels)) for pixels, labels in batches.batch(args.batch_size)]
    metrics = {"train_loss": float(np.mean(losses)), "test_accuracy": accuracy(X_test, y_test)}
    mlflow.log_metrics(metrics, step=epoch)
    with train_writer.as_default():
        tf.summary.scalar("loss", metrics["train_loss"], step=epoch)
    with test_writer.as_default():
        tf.summary.scalar("accuracy", metrics["test_accuracy"], step=epoch)
    print(f"epoch {epoch + 1:2d}: loss {metrics['train_loss']:.4f}, test accuracy {metrics['test_accuracy']:.4f}")
train_writer.close()
test_writer.close()
print(f"trained in {time.monotonic() - started:.1f}s")

kiln_tf.save_model(model, args.model, X_test)
print("saved the model (64 pixel values in, 10 probabilities out)")
