"""A paper as a PDF-to-Markdown converter (docling) writes it."""

from __future__ import annotations

# A Docling-style conversion: title and author block as headings and lines, numbered sections,
# an image placeholder, acknowledgments, references, then an appendix.
DOCLING_MD = """## A Tiny Study of Markdown

## Ada Lovelace Charles Babbage

Analytical Engine Lab, London

{ada, charles}@engine.example

## Abstract

We study how papers look as Markdown.

## 1 Introduction

Papers arrive as PDFs.

<!-- image -->

## 1.1 Contributions

### A deeper heading stays inside

We clean them.

## Acknowledgments

We thank the engine.

## References

- [1] A. Person. A book. 1843.

## A Proofs

The appendix.
"""
