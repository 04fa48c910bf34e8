"""boto3 clients built from config: the same code talks to AWS and to a local stand-in."""
