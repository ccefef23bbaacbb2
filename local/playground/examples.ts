/** Example scripts offered in the playground; each shows one part of the contract. */
export interface Example {
  readonly id: string;
  readonly label: string;
  readonly script: string;
  readonly input: string;
  readonly timeoutMs: number;
}

export const EXAMPLES: readonly Example[] = [
  {
    id: 'hello',
    label: 'Hello (stdout only)',
    script: 'print("Hello from the sandbox!")\n',
    input: '',
    timeoutMs: 10000,
  },
  {
    id: 'main-input',
    label: 'main(input) returns a result',
    script: [
      'def main(input):',
      '    """The return value of main() becomes `result`."""',
      '    numbers = input["numbers"]',
      '    print(f"summing {len(numbers)} numbers")',
      '    return {"sum": sum(numbers), "max": max(numbers)}',
      '',
    ].join('\n'),
    input: '{"numbers": [3, 1, 4, 1, 5, 9, 2, 6]}',
    timeoutMs: 10000,
  },
  {
    id: 'numpy',
    label: 'numpy statistics',
    script: [
      'import numpy as np',
      '',
      'def main(input):',
      '    rng = np.random.default_rng(input.get("seed", 0))',
      '    samples = rng.normal(loc=10.0, scale=2.0, size=10_000)',
      '    # numpy scalars and arrays are converted to JSON automatically.',
      '    return {"mean": samples.mean(), "std": samples.std(), "first": samples[:3]}',
      '',
    ].join('\n'),
    input: '{"seed": 42}',
    timeoutMs: 10000,
  },
  {
    id: 'pandas',
    label: 'pandas group-by',
    script: [
      'import pandas as pd',
      '',
      'def main(input):',
      '    df = pd.DataFrame(input["sales"])',
      '    totals = df.groupby("region")["amount"].sum().sort_values(ascending=False)',
      '    print(totals.to_string())',
      '    df.to_csv("outputs/sales.csv", index=False)',
      '    return totals',
      '',
    ].join('\n'),
    input: JSON.stringify({
      sales: [
        { region: 'north', amount: 120 },
        { region: 'south', amount: 80 },
        { region: 'north', amount: 45 },
        { region: 'east', amount: 200 },
      ],
    }),
    timeoutMs: 10000,
  },
  {
    id: 'chart',
    label: 'matplotlib chart (artifact)',
    script: [
      'import matplotlib.pyplot as plt',
      'import numpy as np',
      '',
      'def main():',
      '    x = np.linspace(0, 2 * np.pi, 200)',
      '    fig, ax = plt.subplots(figsize=(6, 3.5))',
      '    ax.plot(x, np.sin(x), label="sin")',
      '    ax.plot(x, np.cos(x), label="cos")',
      '    ax.set_title("Files under ./outputs/ come back as artifacts")',
      '    ax.legend()',
      '    fig.savefig("outputs/chart.png", dpi=100)',
      '    plt.close(fig)  # figures still open when main() returns are saved as figure-N.png too',
      '    return "chart saved"',
      '',
    ].join('\n'),
    input: '',
    timeoutMs: 15000,
  },
  {
    id: 'error',
    label: 'An error (traceback, failing line)',
    script: [
      'def average(values):',
      '    return sum(values) / len(values)',
      '',
      'def main():',
      '    print("about to divide by zero")',
      '    return average([])',
      '',
    ].join('\n'),
    input: '',
    timeoutMs: 10000,
  },
  {
    id: 'timeout',
    label: 'A timeout',
    script: ['import time', '', 'print("sleeping past the deadline")', 'while True:', '    time.sleep(0.1)', ''].join('\n'),
    input: '',
    timeoutMs: 1000,
  },
];
