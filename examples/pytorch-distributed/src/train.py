"""Data-parallel training (DistributedDataParallel) of a small network on scikit-learn's digits.

kiln starts one process per rank (``distribution.process_count_per_instance``) with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set, so
``init_process_group`` needs no arguments. Each rank trains on its own shard of the images
(``DistributedSampler``); DDP averages the gradients, so every rank holds the same weights.
Rank 0 alone logs to MLflow and saves the model: the job's MLflow run is shared by all ranks.
"""

import argparse

import numpy as np
import torch
import torch.distributed as dist
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from kiln.integrations import distributed


class DigitsNetwork(nn.Module):
    """A row of the 64 pixel values (0-16) -> logits of the 10 digits; it scales the pixels itself,
    so that clients of the registered model send the rows as they are."""

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.layers(pixels / 16.0)


parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=15)
parser.add_argument("--learning-rate", type=float, default=0.01)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--model", required=True)
args = parser.parse_args()

rank, world_size = distributed.rank(), distributed.world_size()
# NCCL needs a GPU per rank (rank i uses cuda:LOCAL_RANK of the job's GPUs); otherwise gloo on the CPU
use_cuda = torch.cuda.is_available() and torch.cuda.device_count() >= world_size
device = torch.device(f"cuda:{distributed.local_rank()}") if use_cuda else torch.device("cpu")
backend = "nccl" if use_cuda else "gloo"
dist.init_process_group(backend)  # env://: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT
torch.manual_seed(0)  # the same initial weights on every rank (DDP also broadcasts rank 0's)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X.astype(np.float32), y, test_size=0.25, random_state=0, stratify=y
)
train = TensorDataset(torch.from_numpy(X_train), torch.from_numpy(y_train))
sampler = DistributedSampler(train, shuffle=True, seed=0)  # this rank's shard, reshuffled each epoch
batches = DataLoader(train, batch_size=args.batch_size, sampler=sampler)

network = DigitsNetwork().to(device)
model = DistributedDataParallel(network, device_ids=[device.index] if use_cuda else None)
optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)

if distributed.is_main_process():
    import mlflow  # only rank 0 talks to MLflow

    mlflow.log_params({**vars(args), "world_size": world_size, "backend": backend})
for epoch in range(1, args.epochs + 1):
    sampler.set_epoch(epoch)
    model.train()
    loss_sum = torch.zeros(2, device=device)  # summed loss, images seen
    for images, labels in batches:
        images, labels = images.to(device), labels.to(device)
        loss = functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()  # DDP averages the gradients of all ranks here
        optimizer.step()
        loss_sum += torch.stack([loss.detach() * len(labels), torch.tensor(float(len(labels)), device=device)])
    dist.all_reduce(loss_sum)  # the mean training loss over every rank's shard
    if distributed.is_main_process():
        mlflow.log_metric("train_loss", (loss_sum[0] / loss_sum[1]).item(), step=epoch)

print(f"rank {rank} of {world_size} ran on {device} ({backend}): trained on {len(sampler)} of {len(train)} images")

if distributed.is_main_process():
    from mlflow.models import infer_signature

    classifier = nn.Sequential(network, nn.Softmax(dim=1)).cpu().eval()  # answers class probabilities
    with torch.no_grad():
        probabilities = classifier(torch.from_numpy(X_test)).numpy()
    accuracy = float((probabilities.argmax(axis=1) == y_test).mean())
    mlflow.log_metric("test_accuracy", accuracy)
    print(f"test_accuracy: {accuracy:.3f}")
    mlflow.pytorch.save_model(
        classifier, args.model, signature=infer_signature(X_test, probabilities), input_example=X_test[:2],
        pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],  # inferring them takes seconds
    )
dist.destroy_process_group()
