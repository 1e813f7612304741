"""Installs a test oracle's npm packages on first use (no lock file, no audit)."""
import os
import subprocess


def install(node_dir, *marker):
    """Runs `npm install` in node_dir unless node_modules/<marker...> exists.
    Returns an error text, or None when the packages are there."""
    if os.path.isfile(os.path.join(node_dir, "node_modules", *marker)):
        return None
    res = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-package-lock"],
                         cwd=node_dir, capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        return "npm install failed (%d): %s" % (res.returncode, res.stderr[-2000:])
    return None
