"""Trace-and-replay compilation of training steps (`chainrule.compile`)."""

from chainrule.compiler.compiled import CompiledStep, compile
from chainrule.compiler.tracer import CompileError

__all__ = ["CompileError", "CompiledStep", "compile"]
