// Package data loads the image classification sets that candidate networks train on (IDX files
// for MNIST, Fashion-MNIST and KMNIST, CIFAR-10/100 binary batches, folders of PNG/JPEG images,
// and a synthetic generator for tests) and turns them into normalised, augmented NHWC float32
// batches for the engine.
//
// Pixels are kept as the uint8 values stored on disk; normalisation and augmentation happen only
// when a Loader writes a batch, so a set costs one byte per pixel in memory. Everything random
// (validation split, subset, shuffle, augmentation) is derived from an explicit seed, so the same
// seed gives the same batches on any machine and any number of threads.
package data
