"""A small Keras 3 CNN that tells circles, squares and triangles apart, on 16x16 grayscale
images drawn with numpy (shapes.py). MLflow's Keras autologging records params and per-epoch
metrics, the TensorBoard callback writes into the job's log folder, and the network is saved
as an MLflow model (Keras flavor) that takes images of shape (16, 16) and answers the three
class probabilities."""

import argparse
import time

import keras
import mlflow
from shapes import CLASSES, SIZE, make_shapes

from kiln.integrations import keras as kiln_keras

parser = argparse.ArgumentParser()
parser.add_argument("--train-images", type=int, default=900)
parser.add_argument("--epochs", type=int, default=8)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--learning-rate", type=float, default=0.005)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--model", required=True)
parser.add_argument(
    "--save-as", choices=("graph", "keras"), default="graph",
    help="graph: the exported serving graph (fast to serve); keras: a .keras file (trains further, converts to ONNX)",
)  # fmt: skip
args = parser.parse_args()

kiln_keras.seed(args.seed)
kiln_keras.autolog(log_models=False, log_datasets=False)  # the model goes to the job's output instead

X_train, y_train = make_shapes(args.train_images, seed=args.seed)
X_test, y_test = make_shapes(300, seed=args.seed + 1000)  # other images from the same distribution
print(f"training on {len(X_train)} images of {SIZE}x{SIZE} ({', '.join(CLASSES)}), testing on {len(X_test)}")

model = keras.Sequential(
    [
        keras.Input((SIZE, SIZE), name="image"),
        keras.layers.Reshape((SIZE, SIZE, 1)),  # one grayscale channel
        keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(len(CLASSES), activation="softmax"),
    ],
    name="shapes_cnn",
)
model.compile(
    optimizer=keras.optimizers.Adam(args.learning_rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
)
started = time.monotonic()
model.fit(
    X_train, y_train, epochs=args.epochs, batch_size=args.batch_size, validation_split=0.2, verbose=2,
    callbacks=[kiln_keras.tensorboard_callback()],
)  # fmt: skip
print(f"trained in {time.monotonic() - started:.1f}s")

test_loss, test_accuracy = model.evaluate(X_test, y_test, verbose=0)
mlflow.log_metrics({"test_loss": test_loss, "test_accuracy": test_accuracy})
print(f"test accuracy {test_accuracy:.4f}")

# the compiled serving graph: about 1 ms per request on an endpoint, against tens for model.predict
kiln_keras.save_model(model, args.model, X_test, exported=args.save_as == "graph")
print(f"saved the model ({SIZE}x{SIZE} images in, {len(CLASSES)} probabilities out)")
