"""`nalu fit` on AI Feynman laws against gplearn (issue 22, item 5). The laws were chosen by a rule written down before any result was seen.

Source: the 100 equations of the AI Feynman data set (Udrescu & Tegmark 2020, "AI Feynman: a physics-inspired
method for symbolic regression", Science Advances 6; the list ``FeynmanEquations.csv`` published with it),
written here from that list with its equation numbers and variable names (``pi`` is π).

Selection rule (fixed 2026-12-06, before any fit was run):
1. Keep an equation when its formula uses only + − × ÷, integer powers, square roots of a product or ratio
   of inputs (a half power), and numeric constants (π included): the operations ``nalu fit``'s ladder and
   closed-form answers are meant to cover (issue 22, item 5). Equations with exp, log, sin, cos, arcsin or
   tanh, and square roots of a sum or difference (``sqrt(1 - v**2/c**2)``, ``sqrt(x**2 + y**2)``), are out.
2. Every input is drawn from U[1, 5] (test rows: U[5, 10]). An equation whose divisor can reach 0 on either
   box (interval arithmetic, ``Expression.domain_problems``: ``1 - v/c``, ``w**2 - w0**2``, ``1 - n*a/3``)
   is out, because its table would hold arbitrarily large values; this script applies this check and
   reports which equations it removed.
Nothing else was removed; the list below is every equation rule 1 keeps, in the order of the published list.
"""

from __future__ import annotations

# equation number: (input names, formula in those names; ``pi`` is π)
LAWS: dict[str, tuple[list[str], str]] = {
    "I.9.18": (
        ["m1", "m2", "G", "x1", "x2", "y1", "y2", "z1", "z2"],
        "G*m1*m2/((x2 - x1)**2 + (y2 - y1)**2 + (z2 - z1)**2)",
    ),
    "I.11.19": (["x1", "x2", "x3", "y1", "y2", "y3"], "x1*y1 + x2*y2 + x3*y3"),
    "I.12.1": (["mu", "Nn"], "mu*Nn"),
    "I.12.2": (["q1", "q2", "eps", "r"], "q1*q2/(4*pi*eps*r**2)"),
    "I.12.4": (["q1", "eps", "r"], "q1/(4*pi*eps*r**2)"),
    "I.12.5": (["q2", "Ef"], "q2*Ef"),
    "I.13.4": (["m", "v", "u", "w"], "1/2*m*(v**2 + u**2 + w**2)"),
    "I.13.12": (["m1", "m2", "r1", "r2", "G"], "G*m1*m2*(1/r2 - 1/r1)"),
    "I.14.3": (["m", "g", "z"], "m*g*z"),
    "I.14.4": (["k", "x"], "1/2*k*x**2"),
    "I.16.6": (["c", "v", "u"], "(u + v)/(1 + u*v/c**2)"),
    "I.18.4": (["m1", "m2", "r1", "r2"], "(m1*r1 + m2*r2)/(m1 + m2)"),
    "I.24.6": (["m", "omega", "omega0", "x"], "1/4*m*(omega**2 + omega0**2)*x**2"),
    "I.25.13": (["q", "C"], "q/C"),
    "I.27.6": (["d1", "d2", "n"], "1/(1/d1 + n/d2)"),
    "I.29.4": (["omega", "c"], "omega/c"),
    "I.32.5": (["q", "a", "eps", "c"], "q**2*a**2/(6*pi*eps*c**3)"),
    "I.32.17": (
        ["eps", "c", "Ef", "r", "omega", "omega0"],
        "(1/2*eps*c*Ef**2)*(8*pi*r**2/3)*(omega**4/(omega**2 - omega0**2)**2)",
    ),
    "I.34.8": (["q", "v", "B", "p"], "q*v*B/p"),
    "I.34.10": (["c", "v", "omega0"], "omega0/(1 - v/c)"),
    "I.34.27": (["omega", "h"], "h/(2*pi)*omega"),
    "I.38.12": (["m", "q", "h", "eps"], "4*pi*eps*(h/(2*pi))**2/(m*q**2)"),
    "I.39.10": (["pF", "V"], "3/2*pF*V"),
    "I.39.11": (["gamma", "pF", "V"], "1/(gamma - 1)*pF*V"),
    "I.39.22": (["n", "T", "V", "kb"], "n*kb*T/V"),
    "I.43.16": (["mu", "q", "Ve", "d"], "mu*q*Ve/d"),
    "I.43.31": (["mu", "kb", "T"], "mu*kb*T"),
    "I.43.43": (["gamma", "kb", "A", "v"], "1/(gamma - 1)*kb*v/A"),
    "I.47.23": (["gamma", "pr", "rho"], "sqrt(gamma*pr/rho)"),
    "II.2.42": (["kappa", "T1", "T2", "A", "d"], "kappa*(T2 - T1)*A/d"),
    "II.3.24": (["Pwr", "r"], "Pwr/(4*pi*r**2)"),
    "II.4.23": (["q", "eps", "r"], "q/(4*pi*eps*r)"),
    "II.8.7": (["q", "eps", "d"], "3/5*q**2/(4*pi*eps*d)"),
    "II.8.31": (["eps", "Ef"], "eps*Ef**2/2"),
    "II.10.9": (["sigma", "eps", "chi"], "sigma/eps*1/(1 + chi)"),
    "II.11.3": (["q", "Ef", "m", "omega0", "omega"], "q*Ef/(m*(omega0**2 - omega**2))"),
    "II.11.20": (["n", "pd", "Ef", "kb", "T"], "n*pd**2*Ef/(3*kb*T)"),
    "II.11.27": (["n", "alpha", "eps", "Ef"], "n*alpha/(1 - n*alpha/3)*eps*Ef"),
    "II.11.28": (["n", "alpha"], "1 + n*alpha/(1 - n*alpha/3)"),
    "II.13.17": (["eps", "c", "I", "r"], "1/(4*pi*eps*c**2)*2*I/r"),
    "II.21.32": (["q", "eps", "r", "v", "c"], "q/(4*pi*eps*r*(1 - v/c))"),
    "II.27.16": (["eps", "c", "Ef"], "eps*c*Ef**2"),
    "II.27.18": (["eps", "Ef"], "eps*Ef**2"),
    "II.34.2a": (["q", "v", "r"], "q*v/(2*pi*r)"),
    "II.34.2": (["q", "v", "r"], "q*v*r/2"),
    "II.34.11": (["g_", "q", "B", "m"], "g_*q*B/(2*m)"),
    "II.34.29a": (["q", "h", "m"], "q*h/(4*pi*m)"),
    "II.34.29b": (["g_", "h", "Jz", "mom", "B"], "g_*mom*B*Jz/(h/(2*pi))"),
    "II.36.38": (["mom", "H", "kb", "T", "alpha", "eps", "c", "M"], "mom*H/(kb*T) + mom*alpha*M/(eps*c**2*kb*T)"),
    "II.37.1": (["mom", "B", "chi"], "mom*(1 + chi)*B"),
    "II.38.3": (["Y", "A", "d", "x"], "Y*A*x/d"),
    "II.38.14": (["Y", "sigma"], "Y/(2*(1 + sigma))"),
    "III.7.38": (["mom", "B", "h"], "2*mom*B/(h/(2*pi))"),
    "III.12.43": (["n", "h"], "n*h/(2*pi)"),
    "III.13.18": (["E_n", "d", "k", "h"], "2*E_n*d**2*k/(h/(2*pi))"),
    "III.15.14": (["h", "E_n", "d"], "(h/(2*pi))**2/(2*E_n*d**2)"),
    "III.15.27": (["alpha", "n", "d"], "2*pi*alpha/(n*d)"),
    "III.19.51": (["m", "q", "eps", "h", "n"], "-m*q**4/(2*(4*pi*eps)**2*(h/(2*pi))**2)*(1/n**2)"),
    "III.21.20": (["rho_c0", "q", "A_vec", "m"], "-rho_c0*q*A_vec/m"),
}
