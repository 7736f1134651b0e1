// Package space is the vocabulary of architectures: the Arch intermediate representation, its
// block families, analytic parameter and MAC counts, validation, canonical hashing, the search
// space definition and the genome encoding.
package space
