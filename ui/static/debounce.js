() => new Promise((resolve) => setTimeout(() => resolve([]), 180))
