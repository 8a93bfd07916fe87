"""A deterministic demo of the Neixiang county blueprint (一张蓝图演示数据).

`generate(seed, parcels, projects)` builds every standard layer and a set of approval
projects in memory (pure, no database); `loader.load_demo` writes them through the same
import path as real data. See generator.py and grid.py for the design.
"""

from layers.demo.generator import (
    DEFAULT_PARCELS,
    DEFAULT_PROJECTS,
    DEFAULT_SEED,
    DemoCounty,
    LayerData,
    generate,
)
from layers.demo.projects import SPATIAL_VIOLATIONS, VIOLATIONS, ProjectPlan

__all__ = ["DEFAULT_PARCELS", "DEFAULT_PROJECTS", "DEFAULT_SEED", "SPATIAL_VIOLATIONS",
           "VIOLATIONS", "DemoCounty", "LayerData", "ProjectPlan", "generate"]
