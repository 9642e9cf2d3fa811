"""特色数据库: admin-defined special databases with typed fields, and their records."""
