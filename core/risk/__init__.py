"""Risk screening before the processor: rules in `service`, thresholds and block lists in `models`."""
