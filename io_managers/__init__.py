from io_managers.delta import DeltaPartitionIOManager

__all__ = ["DeltaPartitionIOManager"]
