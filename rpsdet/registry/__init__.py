"""Model versions: DVC `artifacts:` declare the files, GTO git tags give them semver versions and stages."""
