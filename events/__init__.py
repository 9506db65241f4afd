"""The bus: subjects, streams, consumers, publishing with de-duplication, and the DLQ."""
