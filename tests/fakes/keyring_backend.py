"""An in-memory keyring backend, so tests never touch the machine's real keyring."""

from keyring.backend import KeyringBackend


class MemoryKeyring(KeyringBackend):
    """Stores passwords in a dict for the life of the object."""

    priority = 1

    def __init__(self):
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.store.get((service, username))

    def set_password(self, service, username, password):
        self.store[(service, username)] = password

    def delete_password(self, service, username):
        self.store.pop((service, username), None)


class PlaintextFileKeyring(KeyringBackend):
    """Behaves like keyrings.alt's PlaintextKeyring: the password base64-encoded in a plain file, 'no encyption'."""

    priority = 0.5
    scheme = "no encyption"  # sic, as keyrings.alt spells it

    def __init__(self, file_path):
        super().__init__()
        self.file_path = str(file_path)

    def _read(self) -> dict:
        import json
        from pathlib import Path

        path = Path(self.file_path)
        return json.loads(path.read_text()) if path.exists() else {}

    def get_password(self, service, username):
        import base64

        value = self._read().get(f"{service}/{username}")
        return base64.b64decode(value).decode() if value else None

    def set_password(self, service, username, password):
        import base64
        import json
        from pathlib import Path

        data = self._read()
        data[f"{service}/{username}"] = base64.b64encode(password.encode()).decode()
        Path(self.file_path).write_text(json.dumps(data))

    def delete_password(self, service, username):
        pass
