"""The package version, in a leaf module: the runs hpsearch logs carry it, and importing the
package root (whose public API loads lazily) from inside the package would close a circle."""

__version__ = "0.1.0"
