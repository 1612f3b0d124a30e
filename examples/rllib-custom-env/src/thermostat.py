"""A small control problem defined in the job's own code: keep a room's temperature at a set point.

Each step the heater is off, low or high; the room loses heat to the outside. The observation is the
temperature's distance from the set point and how fast it changes; the reward is minus that distance.
"""

import gymnasium as gym
import numpy as np


class Thermostat(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, config: dict | None = None) -> None:
        config = config or {}
        self.steps = int(config.get("steps", 50))
        self.loss = float(config.get("loss", 0.1))  # the share of the gap to the outside lost per step
        self.observation_space = gym.spaces.Box(-20.0, 20.0, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(3)  # heater off, low, high
        self._outside = -10.0  # degrees below the set point
        self._gap = 0.0
        self._change = 0.0
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._gap = float(self.np_random.uniform(-8.0, 8.0))
        self._change, self._t = 0.0, 0
        return self._observation(), {}

    def step(self, action: int):
        before = self._gap
        heating = (0.0, 1.0, 2.0)[int(action)]
        self._gap = float(np.clip(self._gap + heating - self.loss * (self._gap - self._outside), -20.0, 20.0))
        self._change, self._t = self._gap - before, self._t + 1
        return self._observation(), -abs(self._gap), False, self._t >= self.steps, {}

    def _observation(self) -> np.ndarray:
        return np.array([self._gap, self._change], dtype=np.float32)
