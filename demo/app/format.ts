// How the demo pages write acr values and times.
import { ACR_LABELS } from './client.js'

export function shortAcr(acr: string | undefined): string {
  return acr ? (acr.split(':').pop() ?? acr) : 'none'
}

export function ago(epochSeconds: number | undefined): string {
  if (epochSeconds === undefined) return 'at an unknown time'
  const seconds = Math.max(0, Math.round(Date.now() / 1000 - epochSeconds))
  return seconds < 90 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`
}

export function acrLabel(acr: string | undefined): string {
  return acr ? (ACR_LABELS[acr] ?? acr) : '—'
}
