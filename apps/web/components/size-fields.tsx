import { NumberField } from '@/components/number-field';

/** A VM's size as the forms set it. */
export interface VmSize {
  vcpus: number;
  memoryMib: number;
  diskGib: number;
}

/**
 * A VM's vCPUs, memory and disk fields (ids `<idPrefix>-vcpus`, …); with `left`, what the quota
 * leaves of each beside it.
 */
export function SizeFields({
  idPrefix,
  values,
  left,
  onChange,
}: {
  idPrefix: string;
  values: VmSize;
  left?: Partial<VmSize> | undefined;
  onChange: (changed: Partial<VmSize>) => void;
}) {
  return (
    <>
      <NumberField
        id={`${idPrefix}-vcpus`}
        label="vCPUs"
        value={values.vcpus}
        min={1}
        max={16}
        left={left?.vcpus}
        onChange={(vcpus) => onChange({ vcpus })}
      />
      <NumberField
        id={`${idPrefix}-memory`}
        label="Memory (MiB)"
        value={values.memoryMib}
        min={64}
        max={65536}
        step={64}
        left={left?.memoryMib}
        onChange={(memoryMib) => onChange({ memoryMib })}
      />
      <NumberField
        id={`${idPrefix}-disk`}
        label="Disk (GiB)"
        value={values.diskGib}
        min={1}
        max={1024}
        left={left?.diskGib}
        onChange={(diskGib) => onChange({ diskGib })}
      />
    </>
  );
}
