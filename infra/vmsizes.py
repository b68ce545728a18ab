"""What a VM size offers: vCPUs, memory and GPUs, for checks and for the ``pools`` output.

Sources (MicrosoftDocs/azure-compute-docs, ``articles/virtual-machines/sizes/``): the
series pages of Dsv5/Dv5/Ddsv5/Dasv5 (4 GiB per vCPU), Esv5/Ev5/Edsv5/Easv5 (8 GiB per vCPU;
E96 has 672 GiB), Fsv2 (2 GiB per vCPU), NCasT4_v3, NC A100 v4 and NCv3. ``overview.md`` names
the parts of a size name: family, sub-family, number of vCPUs, constrained vCPUs (``E8-4s``:
4 active vCPUs), additive features, accelerator, version. A size not in the table still gets
its vCPU count from its name; its memory and GPUs are then unknown (``None``).

Pure data and functions, no Pulumi import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class VmSize:
    """One VM size; ``memory_gb``/``gpus`` are ``None`` when the size is not in the table."""

    name: str
    cores: int
    memory_gb: float | None
    gpus: int | None


def _series(cores: tuple[int, ...], name: str, gib_per_core: float) -> dict[str, VmSize]:
    sizes = {}
    for count in cores:
        size = name.format(count)
        sizes[size.lower()] = VmSize(size, count, count * gib_per_core, 0)
    return sizes


_D = (2, 4, 8, 16, 32, 48, 64, 96)
_E = (2, 4, 8, 16, 20, 32, 48, 64)
_F = (2, 4, 8, 16, 32, 48, 64, 72)

KNOWN: dict[str, VmSize] = {
    **_series(_D, "Standard_D{}s_v5", 4),
    **_series(_D, "Standard_D{}_v5", 4),
    **_series(_D, "Standard_D{}ds_v5", 4),
    **_series(_D, "Standard_D{}as_v5", 4),
    **_series(_E, "Standard_E{}s_v5", 8),
    **_series(_E, "Standard_E{}_v5", 8),
    **_series(_E, "Standard_E{}ds_v5", 8),
    **_series(_E, "Standard_E{}as_v5", 8),
    **_series(_F, "Standard_F{}s_v2", 2),
    **{
        size.name.lower(): size
        for size in (
            VmSize("Standard_E96s_v5", 96, 672, 0),
            VmSize("Standard_NC4as_T4_v3", 4, 28, 1),
            VmSize("Standard_NC8as_T4_v3", 8, 56, 1),
            VmSize("Standard_NC16as_T4_v3", 16, 110, 1),
            VmSize("Standard_NC64as_T4_v3", 64, 440, 4),
            VmSize("Standard_NC24ads_A100_v4", 24, 220, 1),
            VmSize("Standard_NC48ads_A100_v4", 48, 440, 2),
            VmSize("Standard_NC96ads_A100_v4", 96, 880, 4),
            VmSize("Standard_NC6s_v3", 6, 112, 1),
            VmSize("Standard_NC12s_v3", 12, 224, 2),
            VmSize("Standard_NC24s_v3", 24, 448, 4),
        )
    },
}

# Standard_<family letters><vCPUs>[-<active vCPUs>]<features>[_<accelerator>][_v<N>]
_NAME = re.compile(r"(?i)^(?:standard|basic)_([a-z]+)(\d+)(?:-(\d+))?[a-z]*(?:_.*)?$")


def vm_size(name: str) -> VmSize | None:
    """What ``name`` offers, or ``None`` when not even the vCPU count can be read from it."""
    known = KNOWN.get(name.lower())
    if known is not None:
        return known
    match = _NAME.match(name)
    if match is None:
        return None
    cores = int(match.group(3) or match.group(2))
    if cores < 1:
        return None
    return VmSize(name, cores, None, None)


def max_task_slots(cores: int) -> int:
    """Batch's limit on ``taskSlotsPerNode``: "the smaller of 4 times the number of cores of
    the vmSize of the pool or 256" (ARM Batch 2024-07-01, ``taskSlotsPerNode``)."""
    return min(4 * cores, 256)


def is_gpu_family(name: str) -> bool:
    """N-series sizes (``Standard_NC...``, ``ND``, ``NV``) are the ones with GPUs."""
    match = _NAME.match(name)
    return bool(match and match.group(1).upper().startswith("N"))
