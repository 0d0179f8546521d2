"""The Quart app: its factory (:mod:`.factory`), its state (:mod:`.state`) and the probes."""
