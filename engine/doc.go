// Package engine trains convolutional networks on the CPU: float32 tensors in NHWC layout, a
// static computation graph built once per architecture and batch size with every buffer planned
// up front, each op's forward and backward, initialisation, optimizers and schedules.
//
// Work runs on one parallel.Pool whose chunking does not depend on the thread count, so a
// training step gives bitwise-identical results on any number of threads.
package engine

// Version numbers the engine's arithmetic. It goes up with every change that makes a training
// step produce different bits (a new summation order, a fused kernel that rounds differently),
// so that results computed by an older engine are not taken from a cache for this one's, and
// with every fix that changes what some network computes (6: an Add reading an unfolded
// BatchNorm in a folded inference forward).
const Version = 6
