//! The stp runtime: loads a compiled script into the kernel, attaches its
//! probes, runs its user-side handlers and prints its output.
