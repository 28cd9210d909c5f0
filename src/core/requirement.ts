/** What a protected endpoint demands, or what a flow asked the OP for. */
export interface Requirement {
  /** Acceptable `acr` values, in order of preference; empty means any. */
  acrValues: string[]
  /** Maximum seconds since the last active authentication. */
  maxAge?: number
}

/** Decides whether an `acr` meets the required values; see `StepUpOptions.acceptAcr`. */
export type AcceptAcr = (required: readonly string[], acr: string | undefined) => boolean

/** The default: no requirement accepts anything; otherwise `acr` must be one of the values. */
export const defaultAcceptAcr: AcceptAcr = (required, acr) =>
  required.length === 0 || (acr !== undefined && required.includes(acr))

/** A stable key: equal requirements share one flow (single flight). */
export function requirementKey(requirement: Requirement | undefined): string {
  if (!requirement) return 'login'
  return `${requirement.acrValues.join(' ')}|${requirement.maxAge ?? ''}`
}

export function toRequirement(source: { acrValues?: readonly string[] | undefined; maxAge?: number | undefined }): Requirement {
  const requirement: Requirement = { acrValues: [...(source.acrValues ?? [])] }
  if (source.maxAge !== undefined) requirement.maxAge = source.maxAge
  return requirement
}
